# Promotion du pied de page du site (placement web.footer_promo).

web-footer-promo-title = Abonnez-vous à la newsletter Northwind
web-footer-promo-body = Guides de randonnée, nouveautés et 10 % de réduction sur votre première commande.
web-footer-promo-cta-label = Je m'abonne

web-footer-promo-weekend-title = Un week-end en plein air en vue ?
web-footer-promo-weekend-body = Retrouvez cartes de randonnée et listes d'équipement dans nos guides plein air gratuits.
web-footer-promo-weekend-cta-label = Lire les guides

## En relecture : cartes cadeaux avant Noël
web-footer-promo-gift-title = Un cadeau de dernière minute ?
web-footer-promo-gift-body = Les cartes cadeaux électroniques Northwind dès 10 € arrivent instantanément par e-mail.
web-footer-promo-gift-cta-label = Offrir une carte cadeau
