# SMS (placements sms.order_shipped et sms.loyalty_reminder).
# Deux segments au plus : 250 caractères en GSM-7, 120 sinon.

sms-order-shipped-body = Northwind : votre commande est en route ! Suivez-la sur shop.example.com/track
sms-order-shipped-repeat-body =
    Bonjour { $first_name }, votre commande Northwind a été expédiée. { $order_count ->
        [one] Merci pour votre première commande !
       *[other] Merci pour vos { $order_count } commandes !
    } Suivi : shop.example.com/track
    .anonymous = Votre commande Northwind a été expédiée. Merci de votre confiance ! Suivi : shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards : vos points vous attendent. Consultez votre solde sur shop.example.com/rewards
sms-loyalty-reminder-weekend-body = Northwind : points doublés en magasin et en ligne ce week-end ! shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }, vous avez { $points ->
        [one] { $points } point Northwind
       *[other] { $points } points Northwind
    } ! Profitez-en sur shop.example.com/rewards
    .anonymous = Vos points Northwind vous attendent ! Profitez-en sur shop.example.com/rewards
