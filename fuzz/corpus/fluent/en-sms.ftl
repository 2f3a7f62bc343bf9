# Text messages (placements sms.order_shipped and sms.loyalty_reminder).
# Two SMS segments at most: 250 characters in GSM-7, 120 otherwise.

sms-order-shipped-body = Northwind: your order is on its way! Track it at shop.example.com/track
sms-order-shipped-repeat-body =
    Hi { $first_name }, your Northwind order has shipped. { $order_count ->
        [one] Thanks for your first order!
       *[other] Thanks for your { $order_count } orders!
    } Track it at shop.example.com/track
    .anonymous = Your Northwind order has shipped. Thanks for shopping with us! Track it at shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards: your points are waiting. Check your balance at shop.example.com/rewards
sms-loyalty-reminder-weekend-body = Northwind: double points in store and online this weekend! shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }, you have { $points ->
        [one] { $points } Northwind point
       *[other] { $points } Northwind points
    }! Redeem at shop.example.com/rewards
    .anonymous = You have Northwind points to spend! Redeem at shop.example.com/rewards
