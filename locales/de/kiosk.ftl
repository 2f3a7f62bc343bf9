# Begrüßungsbildschirm der Kiosk-Terminals im Geschäft (Placement kiosk.welcome). Das Kiosk-Pilotprojekt ist beendet.

kiosk-welcome-title = Willkommen bei Northwind
kiosk-welcome-body = Scanne ein Produkt, um Größen, Farben und Bewertungen zu sehen.
