# Écran d'accueil des bornes en magasin (placement kiosk.welcome). Le projet pilote des bornes est terminé.

kiosk-welcome-title = Bienvenue chez Northwind
kiosk-welcome-body = Balayez un produit pour voir les tailles, les couleurs et les avis.
