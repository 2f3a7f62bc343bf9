# SMS (Placements sms.order_shipped und sms.loyalty_reminder).
# Höchstens zwei Segmente: 250 Zeichen in GSM-7, sonst 120.

sms-order-shipped-body = Northwind: Deine Bestellung ist unterwegs! Verfolge sie unter shop.example.com/track
sms-order-shipped-repeat-body =
    Hallo { $first_name }, deine Northwind-Bestellung wurde versandt. { $order_count ->
        [one] Danke für deine erste Bestellung!
       *[other] Danke für deine { $order_count } Bestellungen!
    } Sendungsverfolgung: shop.example.com/track
    .anonymous = Deine Northwind-Bestellung wurde versandt. Danke für deinen Einkauf! Sendungsverfolgung: shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards: Deine Punkte warten auf dich. Kontostand unter shop.example.com/rewards
sms-loyalty-reminder-weekend-body = Northwind: Doppelte Punkte im Geschäft und online an diesem Wochenende! shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }, du hast { $points ->
        [one] { $points } Northwind-Punkt
       *[other] { $points } Northwind-Punkte
    }! Jetzt einlösen unter shop.example.com/rewards
    .anonymous = Deine Northwind-Punkte warten! Jetzt einlösen unter shop.example.com/rewards
