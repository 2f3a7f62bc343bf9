# Notifications push (placements push.back_in_stock et push.points_expiring).
# Titre de 60 caractères au plus, texte de 170 au plus.

push-back-in-stock-title = De retour en stock !
push-back-in-stock-body = Un article de votre liste d'envies est de nouveau disponible dans votre taille. Ne tardez pas !

push-back-in-stock-store-title = De retour en stock près de chez vous
push-back-in-stock-store-body = L'article de votre liste d'envies est de retour dans notre magasin de { $city }. Réservez-le et retirez-le aujourd'hui.
    .anonymous = L'article de votre liste d'envies est de retour dans votre magasin. Réservez-le et retirez-le aujourd'hui.

push-points-expiring-title = Vos points expirent bientôt
push-points-expiring-body = Utilisez vos points Northwind avant la fin du mois.

push-points-expiring-member-title = { $first_name }, ne perdez pas vos points
    .anonymous = Ne perdez pas vos points
push-points-expiring-member-body =
    { $points ->
        [one] { $points } point expire
       *[other] { $points } points expirent
    } à la fin du mois. { $tier ->
        [gold] Astuce Gold : ils valent double sur les chaussures.
        [silver] Astuce Silver : utilisez-les sur la nouvelle collection.
       *[other] Utilisez-les en magasin ou en ligne.
    }
    .anonymous = Certains de vos points expirent à la fin du mois. Utilisez-les en magasin ou en ligne.
