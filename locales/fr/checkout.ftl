# Bannière de paiement (placement checkout.banner), web et mobile_app.

checkout-banner-default-title = Livraison standard offerte sur toutes les commandes
checkout-banner-default-body = Vous avez changé d'avis ? Les retours sont gratuits pendant 60 jours.

checkout-banner-points-title =
    { $points ->
        [one] Vous avez { $points } point à utiliser
       *[other] Vous avez { $points } points à utiliser
    }
    .anonymous = Vous avez des points à utiliser
checkout-banner-points-body = Utilisez-les à l'étape du paiement pour réduire le montant de cette commande.

checkout-banner-mobile-title = Payez en un geste
checkout-banner-mobile-body =
    { $device ->
        [tablet] Payez avec votre carte enregistrée ou votre portefeuille numérique, directement depuis votre tablette.
       *[other] Payez avec Apple Pay ou Google Pay, sans saisir votre carte.
    }

## Brouillon : livraison en 24 h
checkout-banner-express-title = La livraison en 24 h est arrivée
checkout-banner-express-body = Commandez avant 20 h et recevez votre colis demain.
