# Push-Benachrichtigungen (Placements push.back_in_stock und push.points_expiring).
# Titel höchstens 60 Zeichen, Text höchstens 170.

push-back-in-stock-title = Wieder da!
push-back-in-stock-body = Ein Artikel von deiner Wunschliste ist wieder in deiner Größe verfügbar. Schnell zugreifen!

push-back-in-stock-store-title = Wieder da, ganz in deiner Nähe
push-back-in-stock-store-body = Dein Wunschartikel ist wieder in unserem Geschäft in { $city } erhältlich. Jetzt reservieren und heute abholen.
    .anonymous = Dein Wunschartikel ist wieder in deinem Geschäft erhältlich. Jetzt reservieren und heute abholen.

push-points-expiring-title = Deine Punkte verfallen bald
push-points-expiring-body = Löse deine Northwind-Punkte vor Monatsende ein.

push-points-expiring-member-title = { $first_name }, verliere deine Punkte nicht
    .anonymous = Verliere deine Punkte nicht
push-points-expiring-member-body =
    { $points ->
        [one] { $points } Punkt verfällt
       *[other] { $points } Punkte verfallen
    } zum Monatsende. { $tier ->
        [gold] Gold-Tipp: Auf Schuhe zählen sie doppelt.
        [silver] Silber-Tipp: Löse sie für die neue Kollektion ein.
       *[other] Löse sie im Geschäft oder online ein.
    }
    .anonymous = Ein Teil deiner Punkte verfällt zum Monatsende. Löse sie im Geschäft oder online ein.
