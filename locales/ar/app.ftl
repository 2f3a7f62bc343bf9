# Mobile app onboarding (placement app.onboarding). Arabic.

app-onboarding-title = مرحبًا بك في تطبيق Northwind
app-onboarding-body =
    { $device ->
        [tablet] تصفّح الكتالوج كاملًا على الشاشة الكبيرة واحفظ مفضّلاتك لوقت لاحق.
       *[other] امسح الرموز الشريطية في المتجر واحفظ مفضّلاتك وادفع في ثوانٍ.
    }
app-onboarding-cta-label = لنبدأ

app-onboarding-returning-title = سعداء برؤيتك مجددًا
app-onboarding-returning-body =
    { $order_count ->
        [zero] ستجد طلباتك وإيصالاتها هنا في مكان واحد، ضمن الحساب.
        [one] طلبك وإيصاله أصبحا الآن في مكان واحد، ضمن الحساب.
        [two] طلباك وإيصالاتهما أصبحت الآن في مكان واحد، ضمن الحساب.
        [few] جميع طلباتك ({ $order_count }) وإيصالاتها أصبحت الآن في مكان واحد، ضمن الحساب.
        [many] جميع طلباتك ({ $order_count }) وإيصالاتها أصبحت الآن في مكان واحد، ضمن الحساب.
       *[other] جميع طلباتك ({ $order_count }) وإيصالاتها أصبحت الآن في مكان واحد، ضمن الحساب.
    }
    .anonymous = جميع طلباتك وإيصالاتها أصبحت الآن في مكان واحد، ضمن الحساب.

app-onboarding-new-title = أهلًا { $first_name }، مرحبًا بك معنا!
    .anonymous = مرحبًا بك معنا!
app-onboarding-new-body = فعّل الإشعارات لتكون أول من يعرف بعودة المنتجات وعروض الأعضاء.
app-onboarding-new-cta-label = تفعيل الإشعارات
