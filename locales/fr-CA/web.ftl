# Promotion du pied de page du site (placement web.footer_promo).

web-footer-promo-title = Abonnez-vous à l'infolettre Northwind
web-footer-promo-body = Guides de randonnée, nouveautés et 10 % de rabais sur votre première commande.
web-footer-promo-cta-label = Je m'abonne

web-footer-promo-weekend-title = Une fin de semaine en plein air?
web-footer-promo-weekend-body = Trouvez des cartes de sentiers et des listes d'équipement dans nos guides plein air gratuits.
web-footer-promo-weekend-cta-label = Lire les guides

## En révision : cartes-cadeaux avant Noël
web-footer-promo-gift-title = Un cadeau de dernière minute?
web-footer-promo-gift-body = Les cartes-cadeaux électroniques Northwind à partir de 10 $ sont envoyées instantanément par courriel.
web-footer-promo-gift-cta-label = Acheter une carte-cadeau
