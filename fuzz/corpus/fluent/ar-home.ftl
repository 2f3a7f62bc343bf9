# Home hero banner (placement home.hero), Arabic.
# Shown on web, mobile_app, email, sms and push: short titles (push)
# and bodies short enough for a two-segment SMS (120 characters in UCS-2).

## A/B test, variant A (default)
home-hero-default-title = مصمم لعشاق المسارات
home-hero-default-body = وصلت سترات وأحذية وحقائب ظهر الموسم الجديد. إرجاع مجاني لجميع الطلبات.

home-hero-shop-now = تسوّق الآن

## A/B test, variant B
home-hero-spring-title = الربيع يناديك
home-hero-spring-body = طبقات خفيفة لأيام أطول في الهواء الطلق. اكتشف تشكيلة الربيع.

## Gold members
home-hero-gold-title = أهلًا بعودتك يا { $first_name }!
    .anonymous = أهلًا بعودتك!
home-hero-gold-body =
    { $points ->
        [zero] لديك { $points } نقطة حاليًا.
        [one] لديك نقطة واحدة للاستخدام.
        [two] لديك نقطتان للاستخدام.
        [few] لديك { $points } نقاط للاستخدام.
        [many] لديك { $points } نقطة للاستخدام.
       *[other] لديك { $points } نقطة للاستخدام.
    } التوصيل السريع مجاني لأعضاء الفئة الذهبية.
    .anonymous = نقاطك بانتظارك. التوصيل السريع مجاني لأعضاء الفئة الذهبية.
home-hero-gold-cta-label = عرض مكافآتي

## Winter sale 2026 (scheduled)
home-hero-winter-title = تخفيضات الشتاء: خصم يصل إلى 40%
home-hero-winter-body = سترات معزولة وملابس حرارية وأحذية ثلج بأسعار مخفّضة حتى 10 يناير.
