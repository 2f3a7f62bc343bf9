# Checkout banner (placement checkout.banner), web and mobile_app. Japanese.

checkout-banner-default-title = すべてのご注文で通常配送無料
checkout-banner-default-body = 気が変わっても大丈夫。60日間返品無料です。

checkout-banner-points-title =
    { $points ->
       *[other] 使えるポイントが{ $points }ポイントあります
    }
    .anonymous = 使えるポイントがあります
checkout-banner-points-body = お支払い画面でポイントを使って、このご注文をお得に。

checkout-banner-mobile-title = ワンタップでお支払い
checkout-banner-mobile-body =
    { $device ->
        [tablet] 保存済みのカードやデジタルウォレットで、タブレットから直接お支払いいただけます。
       *[other] Apple PayやGoogle Payなら、カード情報の入力は不要です。
    }

## Draft: next-day delivery
checkout-banner-express-title = 翌日配送が始まりました
checkout-banner-express-body = 午後8時までのご注文で明日お届けします。
