# Text messages (placements sms.order_shipped and sms.loyalty_reminder). Japanese.
# Japanese text is sent as UCS-2: two segments means 120 characters at most.

sms-order-shipped-body = Northwind：ご注文の商品を発送しました。配送状況はshop.example.com/trackで確認できます
sms-order-shipped-repeat-body =
    { $first_name }様、Northwindのご注文を発送しました。{ $order_count ->
       *[other] これまで{ $order_count }回のご注文ありがとうございます！
    } shop.example.com/track
    .anonymous = Northwindのご注文を発送しました。いつもありがとうございます！ shop.example.com/track

sms-loyalty-reminder-body = Northwind Rewards：ポイントが貯まっています。残高はshop.example.com/rewardsで確認できます
sms-loyalty-reminder-weekend-body = Northwind：今週末は店舗とオンラインでポイント2倍！ shop.example.com/rewards
sms-loyalty-reminder-points-body =
    { $first_name }様、Northwindポイントが{ $points ->
       *[other] { $points }ポイント
    }あります！ shop.example.com/rewards でご利用ください
    .anonymous = Northwindポイントが貯まっています！ shop.example.com/rewards でご利用ください
