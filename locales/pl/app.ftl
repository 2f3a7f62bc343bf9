# Onboarding aplikacji mobilnej (placement app.onboarding).

app-onboarding-title = Witaj w aplikacji Northwind
app-onboarding-body =
    { $device ->
        [tablet] Przeglądaj cały katalog na dużym ekranie i zapisuj ulubione na później.
       *[other] Skanuj kody kreskowe w sklepie, zapisuj ulubione i płać w kilka sekund.
    }
app-onboarding-cta-label = Zaczynamy

app-onboarding-returning-title = Miło Cię znowu widzieć
app-onboarding-returning-body =
    { $order_count ->
        [one] Twoje zamówienie wraz z paragonem jest teraz w jednym miejscu, w zakładce Konto.
        [few] Twoje { $order_count } zamówienia wraz z paragonami są teraz w jednym miejscu, w zakładce Konto.
        [many] Twoich { $order_count } zamówień wraz z paragonami jest teraz w jednym miejscu, w zakładce Konto.
       *[other] Twoje zamówienia ({ $order_count }) wraz z paragonami są teraz w jednym miejscu, w zakładce Konto.
    }
    .anonymous = Wszystkie Twoje zamówienia i paragony są teraz w jednym miejscu, w zakładce Konto.

app-onboarding-new-title = Cześć { $first_name }, witaj na pokładzie!
    .anonymous = Witaj na pokładzie!
app-onboarding-new-body = Włącz powiadomienia i bądź na bieżąco z dostawami nowości i ofertami dla członków programu.
app-onboarding-new-cta-label = Włącz powiadomienia
