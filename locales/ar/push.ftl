# Push notifications (placements push.back_in_stock and push.points_expiring). Arabic.
# Title 60 characters at most, body 170.

push-back-in-stock-title = عاد إلى المخزون!
push-back-in-stock-body = أحد المنتجات في قائمة أمنياتك متوفر من جديد بمقاسك. اغتنم الفرصة قبل نفاده.

push-back-in-stock-store-title = عاد إلى المخزون بالقرب منك
push-back-in-stock-store-body = المنتج من قائمة أمنياتك عاد إلى متجرنا في { $city }. احجزه الآن واستلمه اليوم.
    .anonymous = المنتج من قائمة أمنياتك عاد إلى متجرك المحلي. احجزه الآن واستلمه اليوم.

push-points-expiring-title = نقاطك ستنتهي صلاحيتها قريبًا
push-points-expiring-body = استخدم نقاط Northwind قبل نهاية الشهر.

push-points-expiring-member-title = { $first_name }، لا تفقد نقاطك
    .anonymous = لا تفقد نقاطك
push-points-expiring-member-body =
    تنتهي صلاحية { $points ->
        [zero] { $points } نقطة
        [one] نقطة واحدة
        [two] نقطتين
        [few] { $points } نقاط
        [many] { $points } نقطة
       *[other] { $points } نقطة
    } في نهاية الشهر. { $tier ->
        [gold] نصيحة للفئة الذهبية: قيمتها مضاعفة على الأحذية.
        [silver] نصيحة للفئة الفضية: استخدمها على التشكيلة الجديدة.
       *[other] استخدمها في المتجر أو عبر الإنترنت.
    }
    .anonymous = تنتهي صلاحية بعض نقاطك في نهاية الشهر. استخدمها في المتجر أو عبر الإنترنت.
