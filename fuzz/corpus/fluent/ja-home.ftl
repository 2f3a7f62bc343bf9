# Home hero banner (placement home.hero), Japanese.
# Shown on web, mobile_app, email, sms and push: short titles (push)
# and bodies short enough for a two-segment SMS (120 characters in UCS-2).

## A/B test, variant A (default)
home-hero-default-title = トレイルのためにつくられた
home-hero-default-body = 新作のジャケット、ブーツ、バックパックが入荷しました。すべてのご注文で返品無料です。

home-hero-shop-now = 今すぐ購入

## A/B test, variant B
home-hero-spring-title = 春がやってきた
home-hero-spring-body = 日が長くなる季節に、軽やかなレイヤリングを。春の新作コレクションをチェック。

## Gold members
home-hero-gold-title = おかえりなさい、{ $first_name }さん！
    .anonymous = おかえりなさい！
home-hero-gold-body =
    { $points ->
       *[other] 使えるポイントが{ $points }ポイントあります。
    }ゴールド会員はお急ぎ便が無料です。
    .anonymous = ポイントをご利用いただけます。ゴールド会員はお急ぎ便が無料です。
home-hero-gold-cta-label = 特典を見る

## Winter sale 2026 (scheduled)
home-hero-winter-title = ウィンターセール：最大40%オフ
home-hero-winter-body = 中綿ジャケット、保温インナー、スノーブーツが1月10日までお買い得です。
