# Baner główny strony startowej (placement home.hero).
# Wyświetlany w kanałach web, mobile_app, email, sms i push: krótkie tytuły (push)
# i teksty mieszczące się w dwóch segmentach SMS.

## Test A/B, wariant A (domyślny)
home-hero-default-title = Stworzone na szlak
home-hero-default-body = Kurtki, buty i plecaki na nowy sezon już są. Darmowe zwroty przy każdym zamówieniu.

home-hero-shop-now = Kupuj teraz

## Test A/B, wariant B
home-hero-spring-title = Wiosna wzywa
home-hero-spring-body = Lekkie warstwy na dłuższe dni na świeżym powietrzu. Odkryj kolekcję wiosenną.

## Członkowie Gold
home-hero-gold-title = Witaj ponownie, { $first_name }!
    .anonymous = Witaj ponownie!
home-hero-gold-body =
    { $points ->
        [one] Masz { $points } punkt do wykorzystania.
        [few] Masz { $points } punkty do wykorzystania.
        [many] Masz { $points } punktów do wykorzystania.
       *[other] Masz { $points } punktu do wykorzystania.
    } Dostawa ekspresowa jest darmowa dla członków Gold.
    .anonymous = Twoje punkty czekają. Dostawa ekspresowa jest darmowa dla członków Gold.
home-hero-gold-cta-label = Zobacz moje nagrody

## Wyprzedaż zimowa 2026 (zaplanowana)
home-hero-winter-title = Wyprzedaż zimowa: do -40%
home-hero-winter-body = Kurtki ocieplane, bielizna termoaktywna i śniegowce taniej do 10 stycznia.
