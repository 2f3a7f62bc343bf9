# Hero-Banner der Startseite (Placement home.hero).
# Ausgespielt auf web, mobile_app, email, sms und push: kurze Titel (Push)
# und Texte, die in eine SMS mit zwei Segmenten passen.

## A/B-Test, Variante A (Standard)
home-hero-default-title = Gemacht für den Trail
home-hero-default-body = Jacken, Schuhe und Rucksäcke der neuen Saison sind da. Kostenlose Rücksendung bei jeder Bestellung.

home-hero-shop-now = Jetzt shoppen

## A/B-Test, Variante B
home-hero-spring-title = Der Frühling ruft
home-hero-spring-body = Leichte Lagen für längere Tage draußen. Entdecke die Frühlingskollektion.

## Gold-Mitglieder
home-hero-gold-title = Willkommen zurück, { $first_name }!
    .anonymous = Willkommen zurück!
home-hero-gold-body =
    { $points ->
        [one] Du hast { $points } Punkt zum Einlösen.
       *[other] Du hast { $points } Punkte zum Einlösen.
    } Expressversand ist für Gold-Mitglieder kostenlos.
    .anonymous = Deine Punkte warten auf dich. Expressversand ist für Gold-Mitglieder kostenlos.
home-hero-gold-cta-label = Meine Prämien ansehen

## Winterschlussverkauf 2026 (geplant)
home-hero-winter-title = Winter-Sale: bis zu 40 % Rabatt
home-hero-winter-body = Isolierjacken, Thermowäsche und Winterstiefel, reduziert bis zum 10. Januar.
