# Zufriedenheitsumfrage (Placement support.survey).

support-survey-default-title = Wie waren wir?
support-survey-default-body =
    { $channel ->
        [email] Es dauert nur zwei Minuten. Klicke auf die Schaltfläche unten und teile uns deine Meinung mit.
        [mobile_app] Tippe unten und beantworte drei kurze Fragen zur App.
       *[other] Beantworte drei kurze Fragen und hilf uns, Northwind besser zu machen.
    }
support-survey-cta-label = Zur Umfrage

support-survey-chat-title = Bewerte diesen Chat
support-survey-chat-body = Konnte unser Team dein Problem heute lösen? Sag es uns mit einem Klick.

support-survey-buyer-title = { $first_name }, wie war deine Bestellung?
    .anonymous = Wie war deine Bestellung?
support-survey-buyer-body =
    { $order_count ->
        [one] Danke für deine erste Bestellung bei uns!
       *[other] Danke für deine { $order_count } Bestellungen bei uns!
    } Bewerte deine letzte Lieferung in weniger als einer Minute.
    .anonymous = Danke für deinen Einkauf! Bewerte deine letzte Lieferung in weniger als einer Minute.
