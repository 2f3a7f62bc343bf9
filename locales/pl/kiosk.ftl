# Ekran powitalny kiosków w sklepach (placement kiosk.welcome). Pilotaż kiosków został zakończony.

kiosk-welcome-title = Witaj w Northwind
kiosk-welcome-body = Zeskanuj dowolny produkt, aby zobaczyć rozmiary, kolory i opinie.
