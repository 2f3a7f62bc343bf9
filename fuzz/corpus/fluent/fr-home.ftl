# Bannière principale de l'accueil (placement home.hero).
# Diffusée sur web, mobile_app, email, sms et push : titres courts (push)
# et textes assez courts pour un SMS de deux segments.

## Test A/B, variante A (par défaut)
home-hero-default-title = Conçu pour les sentiers
home-hero-default-body = Vestes, chaussures et sacs à dos de la nouvelle saison sont arrivés. Retours gratuits sur toutes les commandes.

home-hero-shop-now = Découvrir

## Test A/B, variante B
home-hero-spring-title = Le printemps vous appelle
home-hero-spring-body = Des couches légères pour profiter des beaux jours. Découvrez la collection printemps.

## Membres Gold
home-hero-gold-title = Bon retour, { $first_name } !
    .anonymous = Bon retour parmi nous !
home-hero-gold-body =
    { $points ->
        [one] Vous avez { $points } point à utiliser.
       *[other] Vous avez { $points } points à utiliser.
    } La livraison express est offerte aux membres Gold.
    .anonymous = Vos points vous attendent. La livraison express est offerte aux membres Gold.
home-hero-gold-cta-label = Voir mes avantages

## Soldes d'hiver 2026 (programmées)
home-hero-winter-title = Soldes d'hiver : jusqu'à -40 %
home-hero-winter-body = Doudounes, sous-vêtements thermiques et bottes de neige à prix réduits jusqu'au 10 janvier.
