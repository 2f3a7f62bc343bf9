# E-Mails (Placements email.welcome und email.cart_reminder).
# Betreffzeilen höchstens 70 Zeichen, Preheader höchstens 110.
# Die Textkörper sind HTML: nur einfaches Markup, keine Variablen in Attributen.

## Willkommens-E-Mail
email-welcome-subject = Willkommen bei Northwind, { $first_name }!
    .anonymous = Willkommen bei Northwind!
email-welcome-preheader = Dein Willkommenscode über 10 % wartet auf dich.
email-welcome-body =
    <p>Hallo { $first_name },</p>
    <p>schön, dass du dabei bist. Mit dem Code <strong>HELLO10</strong> sparst du 10 % bei deiner ersten Bestellung.</p>
    <p>Wir sehen uns auf dem Trail!</p>
    .anonymous =
        <p>Hallo,</p>
        <p>schön, dass du dabei bist. Mit dem Code <strong>HELLO10</strong> sparst du 10 % bei deiner ersten Bestellung.</p>
        <p>Wir sehen uns auf dem Trail!</p>

email-welcome-pickup-subject = Willkommen! Abholung im Geschäft ist kostenlos
email-welcome-pickup-preheader = Online bestellen und in jedem Northwind-Geschäft in Frankreich, Belgien oder Kanada abholen.
email-welcome-pickup-body =
    <p>Willkommen bei Northwind!</p>
    <p>Bestelle online und hole deine Ausrüstung im Geschäft deiner Wahl ab, <strong>kostenlos</strong> und meist innerhalb von zwei Stunden.</p>
    <p>Unser Team hilft dir gern bei der Wahl der richtigen Größe.</p>

email-welcome-vip-subject = { $first_name }, dein VIP-Willkommensgeschenk ist da
    .anonymous = Dein VIP-Willkommensgeschenk ist da
email-welcome-vip-preheader = Früher Zugang zum Sale, kostenloser Expressversand und ein Geschenk von uns.
email-welcome-vip-body =
    <p>Hallo { $first_name },</p>
    <p>als Northwind-VIP erhältst du <strong>frühen Zugang</strong> zu jedem Sale, kostenlosen Expressversand und ein Willkommensgeschenk zu deiner nächsten Bestellung.</p>
    .anonymous =
        <p>Hallo,</p>
        <p>als Northwind-VIP erhältst du <strong>frühen Zugang</strong> zu jedem Sale, kostenlosen Expressversand und ein Willkommensgeschenk zu deiner nächsten Bestellung.</p>

## Warenkorb-Erinnerung
email-cart-reminder-subject = Du hast etwas in deinem Warenkorb vergessen
email-cart-reminder-preheader = Wir haben deine Artikel gespeichert, aber beliebte Größen sind schnell vergriffen.
email-cart-reminder-body =
    <p>Dein Warenkorb wartet auf dich.</p>
    <p>Wir halten deine Artikel noch ein paar Tage für dich bereit. Beliebte Größen und Farben sind schnell vergriffen, also warte nicht zu lange.</p>
email-cart-reminder-cta-label = Zurück zum Warenkorb

email-cart-reminder-member-subject =
    { $tier ->
        [gold] Mit deinem Gold-Status ist der Versand kostenlos
        [silver] Mit deinem Silber-Status ist der Versand kostenlos
       *[other] Mit deinem Mitgliedsstatus ist der Versand kostenlos
    }
    .anonymous = Mit deinem Mitgliedsstatus ist der Versand kostenlos
email-cart-reminder-member-preheader = Mitglieder erhalten bei jeder Bestellung kostenlosen Expressversand.
email-cart-reminder-member-body =
    <p>Dein Warenkorb wartet, und der Versand geht auf uns.</p>
    <p>{ $points ->
        [one] Außerdem hast du <strong>{ $points } Punkt</strong> zum Einlösen.
       *[other] Außerdem hast du <strong>{ $points } Punkte</strong> zum Einlösen.
    }</p>
    .anonymous =
        <p>Dein Warenkorb wartet, und der Versand geht auf uns.</p>
        <p>Denk daran: Du kannst deine Punkte beim Bezahlen einlösen.</p>

email-cart-reminder-lapsing-subject = { $first_name }, wir haben deinen Warenkorb gespeichert
    .anonymous = Wir haben deinen Warenkorb für dich gespeichert
email-cart-reminder-lapsing-preheader = Hier sind 15 % Rabatt als kleine Entscheidungshilfe, 48 Stunden gültig.
email-cart-reminder-lapsing-body =
    <p>Hallo { $first_name },</p>
    <p>lange nicht gesehen! Dein Warenkorb ist noch da, und mit dem Code <strong>COMEBACK15</strong> sparst du in den nächsten 48 Stunden 15 %.</p>
    .anonymous =
        <p>Hallo,</p>
        <p>lange nicht gesehen! Dein Warenkorb ist noch da, und mit dem Code <strong>COMEBACK15</strong> sparst du in den nächsten 48 Stunden 15 %.</p>
