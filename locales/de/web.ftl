# Aktion im Footer der Website (Placement web.footer_promo).

web-footer-promo-title = Abonniere den Northwind-Newsletter
web-footer-promo-body = Tourentipps, Neuheiten und 10 % Rabatt auf deine erste Bestellung.
web-footer-promo-cta-label = Anmelden

web-footer-promo-weekend-title = Ein Wochenende draußen geplant?
web-footer-promo-weekend-body = Wanderkarten und Packlisten findest du in unseren kostenlosen Outdoor-Ratgebern.
web-footer-promo-weekend-cta-label = Zu den Ratgebern

## In Prüfung: Geschenkkarten vor Weihnachten
web-footer-promo-gift-title = Noch ein Last-Minute-Geschenk gesucht?
web-footer-promo-gift-body = Northwind-E-Geschenkkarten ab 10 € kommen sofort per E-Mail an.
web-footer-promo-gift-cta-label = Geschenkkarte kaufen
