# Push notifications (placements push.back_in_stock and push.points_expiring). Japanese.
# Title 60 characters at most, body 170.

push-back-in-stock-title = 再入荷しました！
push-back-in-stock-body = ほしい物リストの商品が、あなたのサイズで再入荷しました。売り切れる前にお早めに。

push-back-in-stock-store-title = お近くの店舗で再入荷
push-back-in-stock-store-body = ほしい物リストの商品が{ $city }店に再入荷しました。今すぐ予約して、本日お受け取りいただけます。
    .anonymous = ほしい物リストの商品がお近くの店舗に再入荷しました。今すぐ予約して、本日お受け取りいただけます。

push-points-expiring-title = ポイントの有効期限が近づいています
push-points-expiring-body = 月末までにNorthwindポイントをご利用ください。

push-points-expiring-member-title = { $first_name }さん、ポイントの失効にご注意ください
    .anonymous = ポイントの失効にご注意ください
push-points-expiring-member-body =
    { $points ->
       *[other] { $points }ポイントが月末に失効します。
    }{ $tier ->
        [gold] ゴールド会員なら、シューズでポイントが2倍の価値になります。
        [silver] シルバー会員の方は、新コレクションでのご利用がおすすめです。
       *[other] 店舗またはオンラインでご利用ください。
    }
    .anonymous = 一部のポイントが月末に失効します。店舗またはオンラインでご利用ください。
