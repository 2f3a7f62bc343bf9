# Promocja w stopce strony (placement web.footer_promo).

web-footer-promo-title = Zapisz się do newslettera Northwind
web-footer-promo-body = Przewodniki po szlakach, nowości i 10% zniżki na pierwsze zamówienie.
web-footer-promo-cta-label = Zapisz się

web-footer-promo-weekend-title = Planujesz weekend na świeżym powietrzu?
web-footer-promo-weekend-body = Mapy szlaków i listy sprzętu znajdziesz w naszych darmowych poradnikach outdoorowych.
web-footer-promo-weekend-cta-label = Czytaj poradniki

## W recenzji: karty podarunkowe przed świętami
web-footer-promo-gift-title = Prezent na ostatnią chwilę?
web-footer-promo-gift-body = E-karty podarunkowe Northwind od 50 zł docierają natychmiast e-mailem.
web-footer-promo-gift-cta-label = Kup kartę podarunkową
