# Text messages (placements sms.order_shipped and sms.loyalty_reminder). Arabic.
# Arabic text is sent as UCS-2: two segments means 120 characters at most.

sms-order-shipped-body = Northwind: طلبك في الطريق! تتبّعه على shop.example.com/track
sms-order-shipped-repeat-body =
    مرحبًا { $first_name }، تم شحن طلبك من Northwind. { $order_count ->
        [zero] شكرًا لتسوقك معنا!
        [one] شكرًا على طلبك الأول!
        [two] شكرًا على طلبيك!
        [few] شكرًا على { $order_count } طلبات!
        [many] شكرًا على { $order_count } طلبًا!
       *[other] شكرًا على { $order_count } طلب!
    } shop.example.com/track
    .anonymous = تم شحن طلبك من Northwind. شكرًا لتسوقك معنا! shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards: نقاطك بانتظارك. اطّلع على رصيدك على shop.example.com/rewards
sms-loyalty-reminder-weekend-body = Northwind: نقاط مضاعفة في المتاجر وعبر الإنترنت في عطلة نهاية الأسبوع! shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }، لديك { $points ->
        [zero] { $points } نقطة
        [one] نقطة واحدة
        [two] نقطتان
        [few] { $points } نقاط
        [many] { $points } نقطة
       *[other] { $points } نقطة
    } من Northwind! استخدمها على shop.example.com/rewards
    .anonymous = نقاطك من Northwind بانتظارك! استخدمها على shop.example.com/rewards
