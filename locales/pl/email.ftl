# E-maile (placementy email.welcome i email.cart_reminder).
# Temat najwyżej 70 znaków, preheader najwyżej 110.
# Treść jest w HTML: tylko prosty markup, bez zmiennych w atrybutach.

## E-mail powitalny
email-welcome-subject = Witaj w Northwind, { $first_name }!
    .anonymous = Witaj w Northwind!
email-welcome-preheader = W środku czeka Twój kod powitalny na 10% zniżki.
email-welcome-body =
    <p>Cześć { $first_name },</p>
    <p>dziękujemy za dołączenie do Northwind. Użyj kodu <strong>HELLO10</strong>, aby otrzymać 10% zniżki na pierwsze zamówienie.</p>
    <p>Do zobaczenia na szlaku!</p>
    .anonymous =
        <p>Cześć,</p>
        <p>dziękujemy za dołączenie do Northwind. Użyj kodu <strong>HELLO10</strong>, aby otrzymać 10% zniżki na pierwsze zamówienie.</p>
        <p>Do zobaczenia na szlaku!</p>

email-welcome-pickup-subject = Witaj! Odbiór zamówień w sklepie jest darmowy
email-welcome-pickup-preheader = Zamów online i odbierz w dowolnym sklepie Northwind we Francji, Belgii lub Kanadzie.
email-welcome-pickup-body =
    <p>Witaj w Northwind!</p>
    <p>Zamów online i odbierz sprzęt w wybranym sklepie <strong>bez opłat</strong>, zwykle w ciągu dwóch godzin.</p>
    <p>Nasi doradcy chętnie pomogą dobrać właściwy rozmiar.</p>

email-welcome-vip-subject = { $first_name }, Twój powitalny prezent VIP już czeka
    .anonymous = Twój powitalny prezent VIP już czeka
email-welcome-vip-preheader = Wcześniejszy dostęp do wyprzedaży, darmowa dostawa ekspresowa i prezent od nas.
email-welcome-vip-body =
    <p>Cześć { $first_name },</p>
    <p>jako VIP Northwind masz <strong>wcześniejszy dostęp</strong> do każdej wyprzedaży, darmową dostawę ekspresową i prezent powitalny do następnego zamówienia.</p>
    .anonymous =
        <p>Cześć,</p>
        <p>jako VIP Northwind masz <strong>wcześniejszy dostęp</strong> do każdej wyprzedaży, darmową dostawę ekspresową i prezent powitalny do następnego zamówienia.</p>

## Przypomnienie o koszyku
email-cart-reminder-subject = W Twoim koszyku coś na Ciebie czeka
email-cart-reminder-preheader = Zapisaliśmy Twoje produkty, ale popularne rozmiary szybko się wyprzedają.
email-cart-reminder-body =
    <p>Twój koszyk na Ciebie czeka.</p>
    <p>Zachowamy Twoje produkty jeszcze przez kilka dni. Popularne rozmiary i kolory szybko znikają, więc nie zwlekaj zbyt długo.</p>
email-cart-reminder-cta-label = Wróć do koszyka

email-cart-reminder-member-subject =
    { $tier ->
        [gold] Darmowa dostawa koszyka dzięki statusowi Gold
        [silver] Darmowa dostawa koszyka dzięki statusowi Silver
       *[other] Darmowa dostawa koszyka dzięki Twojemu statusowi
    }
    .anonymous = Darmowa dostawa koszyka dzięki Twojemu statusowi
email-cart-reminder-member-preheader = Członkowie programu mają darmową dostawę ekspresową przy każdym zamówieniu.
email-cart-reminder-member-body =
    <p>Twój koszyk czeka, a dostawa jest na nasz koszt.</p>
    <p>{ $points ->
        [one] Masz też <strong>{ $points } punkt</strong> do wykorzystania.
        [few] Masz też <strong>{ $points } punkty</strong> do wykorzystania.
        [many] Masz też <strong>{ $points } punktów</strong> do wykorzystania.
       *[other] Masz też <strong>{ $points } punktu</strong> do wykorzystania.
    }</p>
    .anonymous =
        <p>Twój koszyk czeka, a dostawa jest na nasz koszt.</p>
        <p>Pamiętaj, że punkty możesz wykorzystać przy płatności.</p>

email-cart-reminder-lapsing-subject = { $first_name }, zachowaliśmy Twój koszyk
    .anonymous = Zachowaliśmy Twój koszyk
email-cart-reminder-lapsing-preheader = Oto 15% zniżki na zachętę, ważne przez 48 godzin.
email-cart-reminder-lapsing-body =
    <p>Cześć { $first_name },</p>
    <p>dawno się nie widzieliśmy! Twój koszyk wciąż czeka, a kod <strong>COMEBACK15</strong> daje 15% zniżki przez najbliższe 48 godzin.</p>
    .anonymous =
        <p>Cześć,</p>
        <p>dawno się nie widzieliśmy! Twój koszyk wciąż czeka, a kod <strong>COMEBACK15</strong> daje 15% zniżki przez najbliższe 48 godzin.</p>
