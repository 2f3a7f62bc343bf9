# Mobile app onboarding (placement app.onboarding). Japanese.

app-onboarding-title = Northwindアプリへようこそ
app-onboarding-body =
    { $device ->
        [tablet] 大きな画面でカタログ全体を閲覧し、お気に入りを保存できます。
       *[other] 店舗でバーコードをスキャンし、お気に入りを保存して、数秒でお会計。
    }
app-onboarding-cta-label = はじめる

app-onboarding-returning-title = またお会いできてうれしいです
app-onboarding-returning-body =
    { $order_count ->
       *[other] { $order_count }件のご注文とレシートを、アカウントでまとめて確認できるようになりました。
    }
    .anonymous = すべてのご注文とレシートを、アカウントでまとめて確認できるようになりました。

app-onboarding-new-title = { $first_name }さん、ようこそ！
    .anonymous = ようこそ！
app-onboarding-new-body = 通知をオンにすると、再入荷や会員限定オファーをいち早くお知らせします。
app-onboarding-new-cta-label = 通知をオンにする
