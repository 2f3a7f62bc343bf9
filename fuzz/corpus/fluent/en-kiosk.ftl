# In-store kiosk welcome screen (placement kiosk.welcome). The kiosk pilot is retired.

kiosk-welcome-title = Welcome to Northwind
kiosk-welcome-body = Scan any product to see sizes, colors and reviews.
