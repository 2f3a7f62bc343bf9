# Emails (placements email.welcome and email.cart_reminder). Japanese.
# Subjects stay under 70 characters and preheaders under 110.
# The body fields are HTML: simple markup only, no variables inside attributes.

## Welcome email
email-welcome-subject = { $first_name }さん、Northwindへようこそ！
    .anonymous = Northwindへようこそ！
email-welcome-preheader = 10%オフのウェルカムコードをお届けします。
email-welcome-body =
    <p>{ $first_name }様</p>
    <p>Northwindにご登録いただきありがとうございます。初回のご注文でコード<strong>HELLO10</strong>をご利用いただくと10%オフになります。</p>
    <p>トレイルでお会いしましょう！</p>
    .anonymous =
        <p>こんにちは。</p>
        <p>Northwindにご登録いただきありがとうございます。初回のご注文でコード<strong>HELLO10</strong>をご利用いただくと10%オフになります。</p>
        <p>トレイルでお会いしましょう！</p>

email-welcome-pickup-subject = ようこそ！店舗受け取りは無料です
email-welcome-pickup-preheader = オンラインで注文して、フランス、ベルギー、カナダのNorthwind店舗で受け取れます。
email-welcome-pickup-body =
    <p>Northwindへようこそ！</p>
    <p>オンラインでご注文いただいた商品は、お好きな店舗で<strong>無料</strong>で受け取れます。通常2時間以内にご用意します。</p>
    <p>サイズ選びはスタッフがお手伝いします。</p>

email-welcome-vip-subject = { $first_name }さん、VIPウェルカムギフトをご用意しました
    .anonymous = VIPウェルカムギフトをご用意しました
email-welcome-vip-preheader = セールへの先行アクセス、お急ぎ便無料、そしてプレゼントをお届けします。
email-welcome-vip-body =
    <p>{ $first_name }様</p>
    <p>Northwind VIP会員として、すべてのセールへの<strong>先行アクセス</strong>、お急ぎ便無料、次回のご注文時のウェルカムギフトをお楽しみいただけます。</p>
    .anonymous =
        <p>こんにちは。</p>
        <p>Northwind VIP会員として、すべてのセールへの<strong>先行アクセス</strong>、お急ぎ便無料、次回のご注文時のウェルカムギフトをお楽しみいただけます。</p>

## Cart reminder
email-cart-reminder-subject = カートに商品が残っています
email-cart-reminder-preheader = 商品は保存されていますが、人気のサイズはすぐに売り切れます。
email-cart-reminder-body =
    <p>カートの商品がお待ちしています。</p>
    <p>商品はあと数日間保存されます。人気のサイズやカラーはすぐに売り切れますので、お早めにどうぞ。</p>
email-cart-reminder-cta-label = カートに戻る

email-cart-reminder-member-subject =
    { $tier ->
        [gold] ゴールド会員特典：カートの商品を送料無料でお届け
        [silver] シルバー会員特典：カートの商品を送料無料でお届け
       *[other] 会員特典：カートの商品を送料無料でお届け
    }
    .anonymous = 会員特典：カートの商品を送料無料でお届け
email-cart-reminder-member-preheader = 会員の方は、すべてのご注文でお急ぎ便が無料です。
email-cart-reminder-member-body =
    <p>カートの商品がお待ちしています。送料は当店が負担します。</p>
    <p>{ $points ->
       *[other] さらに、<strong>{ $points }ポイント</strong>をご利用いただけます。
    }</p>
    .anonymous =
        <p>カートの商品がお待ちしています。送料は当店が負担します。</p>
        <p>ポイントはお支払い時にご利用いただけます。</p>

email-cart-reminder-lapsing-subject = { $first_name }さん、カートを保存しておきました
    .anonymous = カートを保存しておきました
email-cart-reminder-lapsing-preheader = お決めいただくための15%オフをどうぞ。48時間限定です。
email-cart-reminder-lapsing-body =
    <p>{ $first_name }様</p>
    <p>お久しぶりです！カートはそのまま保存されています。コード<strong>COMEBACK15</strong>で、今から48時間15%オフになります。</p>
    .anonymous =
        <p>こんにちは。</p>
        <p>お久しぶりです！カートはそのまま保存されています。コード<strong>COMEBACK15</strong>で、今から48時間15%オフになります。</p>
