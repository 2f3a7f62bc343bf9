# Écran d'accueil des bornes en magasin (placement kiosk.welcome). Le pilote des bornes est arrêté.

kiosk-welcome-title = Bienvenue chez Northwind
kiosk-welcome-body = Scannez un produit pour voir les tailles, les coloris et les avis.
