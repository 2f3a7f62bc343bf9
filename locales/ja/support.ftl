# Customer satisfaction survey (placement support.survey). Japanese.

support-survey-default-title = ご満足いただけましたか？
support-survey-default-body =
    { $channel ->
        [email] 所要時間はわずか2分です。下のボタンをクリックしてご意見をお聞かせください。
        [mobile_app] 下をタップして、アプリに関する3つの簡単な質問にお答えください。
       *[other] 3つの簡単な質問にお答えいただき、Northwindの改善にご協力ください。
    }
support-survey-cta-label = アンケートに答える

support-survey-chat-title = このチャットを評価する
support-survey-chat-body = 本日、担当者は問題を解決できましたか？ワンクリックでお知らせください。

support-survey-buyer-title = { $first_name }さん、ご注文はいかがでしたか？
    .anonymous = ご注文はいかがでしたか？
support-survey-buyer-body =
    { $order_count ->
       *[other] これまで{ $order_count }回のご注文ありがとうございます！
    }最新のお届けについて、1分以内で評価してください。
    .anonymous = いつもご利用ありがとうございます！最新のお届けについて、1分以内で評価してください。
