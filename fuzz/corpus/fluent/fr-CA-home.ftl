# Bannière principale de l'accueil (placement home.hero), français du Québec.
# Diffusée sur web, mobile_app, email, sms et push : titres courts (push)
# et textes assez courts pour un texto de deux segments.

## Test A/B, variante A (par défaut)
home-hero-default-title = Conçu pour les sentiers
home-hero-default-body = Manteaux, bottes et sacs à dos de la nouvelle saison sont arrivés. Retours gratuits sur toutes les commandes.

home-hero-shop-now = Magasiner

## Test A/B, variante B
home-hero-spring-title = Le printemps est arrivé
home-hero-spring-body = Des couches légères pour profiter des longues journées dehors. Magasinez la collection printemps.

## Membres Gold
home-hero-gold-title = Content de vous revoir, { $first_name }!
    .anonymous = Content de vous revoir!
home-hero-gold-body =
    { $points ->
        [one] Vous avez { $points } point à échanger.
       *[other] Vous avez { $points } points à échanger.
    } La livraison express est gratuite pour les membres Gold.
    .anonymous = Vos points vous attendent. La livraison express est gratuite pour les membres Gold.
home-hero-gold-cta-label = Voir mes récompenses

## Soldes d'hiver 2026 (programmées)
home-hero-winter-title = Soldes d'hiver : jusqu'à 40 % de rabais
home-hero-winter-body = Manteaux isolés, sous-vêtements thermiques et bottes d'hiver en solde jusqu'au 10 janvier.
