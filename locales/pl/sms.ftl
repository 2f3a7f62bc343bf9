# SMS (placementy sms.order_shipped i sms.loyalty_reminder).
# Najwyżej dwa segmenty: polskie znaki wymuszają UCS-2, więc najwyżej 120 znaków.

sms-order-shipped-body = Northwind: Twoje zamówienie jest w drodze! Śledź je na shop.example.com/track
sms-order-shipped-repeat-body =
    Cześć { $first_name }, zamówienie Northwind wysłane. { $order_count ->
        [one] Dzięki za pierwsze zamówienie!
        [few] Dzięki za { $order_count } zamówienia!
        [many] Dzięki za { $order_count } zamówień!
       *[other] Dzięki za { $order_count } zamówienia!
    } shop.example.com/track
    .anonymous = Twoje zamówienie Northwind zostało wysłane. Dziękujemy za zakupy! shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards: Twoje punkty czekają. Sprawdź saldo na shop.example.com/rewards
sms-loyalty-reminder-weekend-body = Northwind: podwójne punkty w sklepach i online w ten weekend! shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }, masz { $points ->
        [one] { $points } punkt
        [few] { $points } punkty
        [many] { $points } punktów
       *[other] { $points } punktu
    } Northwind! Wykorzystaj je na shop.example.com/rewards
    .anonymous = Twoje punkty Northwind czekają! Wykorzystaj je na shop.example.com/rewards
