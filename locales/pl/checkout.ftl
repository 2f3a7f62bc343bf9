# Baner w kasie (placement checkout.banner), web i mobile_app.

checkout-banner-default-title = Darmowa dostawa standardowa przy każdym zamówieniu
checkout-banner-default-body = Zmiana zdania? Zwroty są darmowe przez 60 dni.

checkout-banner-points-title =
    { $points ->
        [one] Masz { $points } punkt do wykorzystania
        [few] Masz { $points } punkty do wykorzystania
        [many] Masz { $points } punktów do wykorzystania
       *[other] Masz { $points } punktu do wykorzystania
    }
    .anonymous = Masz punkty do wykorzystania
checkout-banner-points-body = Wykorzystaj je przy płatności i zapłać mniej za to zamówienie.

checkout-banner-mobile-title = Zapłać jednym dotknięciem
checkout-banner-mobile-body =
    { $device ->
        [tablet] Płać zapisaną kartą lub portfelem cyfrowym prosto z tabletu.
       *[other] Płać przez Apple Pay lub Google Pay, bez wpisywania danych karty.
    }

## Szkic: dostawa na następny dzień
checkout-banner-express-title = Dostawa na następny dzień już dostępna
checkout-banner-express-body = Zamów do 20:00, a paczka dotrze jutro.
