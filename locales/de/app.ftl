# Onboarding der Mobile-App (Placement app.onboarding).

app-onboarding-title = Willkommen in der Northwind-App
app-onboarding-body =
    { $device ->
        [tablet] Stöbere auf dem großen Bildschirm im ganzen Katalog und speichere Favoriten für später.
       *[other] Scanne Barcodes im Geschäft, speichere Favoriten und bezahle in Sekunden.
    }
app-onboarding-cta-label = Los geht's

app-onboarding-returning-title = Schön, dich wiederzusehen
app-onboarding-returning-body =
    { $order_count ->
        [one] Deine Bestellung und der Beleg sind jetzt an einem Ort, unter Konto.
       *[other] Alle { $order_count } Bestellungen und Belege sind jetzt an einem Ort, unter Konto.
    }
    .anonymous = Alle deine Bestellungen und Belege sind jetzt an einem Ort, unter Konto.

app-onboarding-new-title = Hallo { $first_name }, willkommen an Bord!
    .anonymous = Willkommen an Bord!
app-onboarding-new-body = Aktiviere Benachrichtigungen und erfahre als Erstes von Nachschub und Mitgliederangeboten.
app-onboarding-new-cta-label = Benachrichtigungen aktivieren
