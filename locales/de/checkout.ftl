# Banner im Checkout (Placement checkout.banner), web und mobile_app.

checkout-banner-default-title = Kostenloser Standardversand für jede Bestellung
checkout-banner-default-body = Doch anders entschieden? Rücksendungen sind 60 Tage lang kostenlos.

checkout-banner-points-title =
    { $points ->
        [one] Du hast { $points } Punkt zum Einlösen
       *[other] Du hast { $points } Punkte zum Einlösen
    }
    .anonymous = Du hast Punkte zum Einlösen
checkout-banner-points-body = Löse sie beim Bezahlen ein und spare bei dieser Bestellung.

checkout-banner-mobile-title = Mit einem Tippen bezahlen
checkout-banner-mobile-body =
    { $device ->
        [tablet] Bezahle mit deiner gespeicherten Karte oder deinem digitalen Wallet, direkt auf deinem Tablet.
       *[other] Bezahle mit Apple Pay oder Google Pay, ganz ohne Kartendaten.
    }

## Entwurf: Lieferung am nächsten Tag
checkout-banner-express-title = Jetzt neu: Lieferung am nächsten Tag
checkout-banner-express-body = Bis 20 Uhr bestellen, morgen geliefert.
