# Website footer promotion (placement web.footer_promo).

web-footer-promo-title = Join the Northwind newsletter
web-footer-promo-body = Trail guides, new arrivals and 10% off your first order.
web-footer-promo-cta-label = Sign up

web-footer-promo-weekend-title = Planning a weekend outdoors?
web-footer-promo-weekend-body = Find trail maps and gear checklists in our free outdoor guides.
web-footer-promo-weekend-cta-label = Read the guides

## In review: gift cards before Christmas
web-footer-promo-gift-title = Last-minute gift?
web-footer-promo-gift-body = Northwind e-gift cards from $10 arrive instantly by email.
web-footer-promo-gift-cta-label = Buy a gift card
