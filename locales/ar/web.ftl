# Website footer promotion (placement web.footer_promo). Arabic.

web-footer-promo-title = اشترك في النشرة البريدية من Northwind
web-footer-promo-body = أدلة المسارات والمنتجات الجديدة وخصم 10% على طلبك الأول.
web-footer-promo-cta-label = اشترك

web-footer-promo-weekend-title = هل تخطط لعطلة نهاية أسبوع في الطبيعة؟
web-footer-promo-weekend-body = اعثر على خرائط المسارات وقوائم المعدات في أدلتنا المجانية للأنشطة الخارجية.
web-footer-promo-weekend-cta-label = اقرأ الأدلة

## In review: gift cards before Christmas
web-footer-promo-gift-title = هدية في اللحظة الأخيرة؟
web-footer-promo-gift-body = بطاقات هدايا Northwind الإلكترونية تبدأ من 10 دولارات وتصل فورًا عبر البريد الإلكتروني.
web-footer-promo-gift-cta-label = اشترِ بطاقة هدية
