# Notifications poussées (placements push.back_in_stock et push.points_expiring).
# Titre de 60 caractères au plus, texte de 170 au plus.

push-back-in-stock-title = De retour en stock!
push-back-in-stock-body = Un article de votre liste de souhaits est de nouveau offert dans votre taille. Faites vite!

push-back-in-stock-store-title = De retour en stock près de chez vous
push-back-in-stock-store-body = L'article de votre liste de souhaits est de retour à notre magasin de { $city }. Réservez-le et ramassez-le aujourd'hui.
    .anonymous = L'article de votre liste de souhaits est de retour à votre magasin. Réservez-le et ramassez-le aujourd'hui.

push-points-expiring-title = Vos points expirent bientôt
push-points-expiring-body = Échangez vos points Northwind avant la fin du mois.

push-points-expiring-member-title = { $first_name }, ne perdez pas vos points
    .anonymous = Ne perdez pas vos points
push-points-expiring-member-body =
    { $points ->
        [one] { $points } point expire
       *[other] { $points } points expirent
    } à la fin du mois. { $tier ->
        [gold] Astuce Gold : ils valent le double sur les bottes et souliers.
        [silver] Astuce Silver : échangez-les sur la nouvelle collection.
       *[other] Échangez-les en magasin ou en ligne.
    }
    .anonymous = Certains de vos points expirent à la fin du mois. Échangez-les en magasin ou en ligne.
