# Bannière de paiement (placement checkout.banner), web et mobile_app.

checkout-banner-default-title = Livraison standard gratuite sur toutes les commandes
checkout-banner-default-body = Vous avez changé d'idée? Les retours sont gratuits pendant 60 jours.

checkout-banner-points-title =
    { $points ->
        [one] Vous avez { $points } point à échanger
       *[other] Vous avez { $points } points à échanger
    }
    .anonymous = Vous avez des points à échanger
checkout-banner-points-body = Échangez-les à l'étape du paiement pour obtenir un rabais sur cette commande.

checkout-banner-mobile-title = Payez en un seul toucher
checkout-banner-mobile-body =
    { $device ->
        [tablet] Payez avec votre carte enregistrée ou votre portefeuille numérique, directement sur votre tablette.
       *[other] Payez avec Apple Pay ou Google Pay, sans entrer votre carte de crédit.
    }

## Brouillon : livraison le lendemain
checkout-banner-express-title = La livraison le lendemain est arrivée
checkout-banner-express-body = Commandez avant 20 h et recevez votre colis demain.
