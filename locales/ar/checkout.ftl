# Checkout banner (placement checkout.banner), web and mobile_app. Arabic.

checkout-banner-default-title = شحن عادي مجاني لجميع الطلبات
checkout-banner-default-body = غيّرت رأيك؟ الإرجاع مجاني خلال 60 يومًا.

checkout-banner-points-title =
    { $points ->
        [zero] لديك { $points } نقطة حاليًا
        [one] لديك نقطة واحدة لاستخدامها
        [two] لديك نقطتان لاستخدامهما
        [few] لديك { $points } نقاط لاستخدامها
        [many] لديك { $points } نقطة لاستخدامها
       *[other] لديك { $points } نقطة لاستخدامها
    }
    .anonymous = لديك نقاط لاستخدامها
checkout-banner-points-body = استخدمها في خطوة الدفع لتحصل على خصم على هذا الطلب.

checkout-banner-mobile-title = ادفع بلمسة واحدة
checkout-banner-mobile-body =
    { $device ->
        [tablet] ادفع ببطاقتك المحفوظة أو بمحفظتك الرقمية مباشرة من جهازك اللوحي.
       *[other] ادفع عبر Apple Pay أو Google Pay دون إدخال بيانات البطاقة.
    }

## Draft: next-day delivery
checkout-banner-express-title = التوصيل في اليوم التالي متاح الآن
checkout-banner-express-body = اطلب قبل الساعة 8 مساءً واستلم طلبك غدًا.
