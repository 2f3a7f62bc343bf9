# Emails (placements email.welcome and email.cart_reminder). Arabic.
# Subjects stay under 70 characters and preheaders under 110.
# The body fields are HTML: simple markup only, no variables inside attributes.

## Welcome email
email-welcome-subject = مرحبًا بك في Northwind يا { $first_name }!
    .anonymous = مرحبًا بك في Northwind!
email-welcome-preheader = رمز الترحيب بخصم 10% بانتظارك في الداخل.
email-welcome-body =
    <p>مرحبًا { $first_name }،</p>
    <p>شكرًا لانضمامك إلى Northwind. استخدم الرمز <strong>HELLO10</strong> للحصول على خصم 10% على طلبك الأول.</p>
    <p>نراك على المسارات!</p>
    .anonymous =
        <p>مرحبًا،</p>
        <p>شكرًا لانضمامك إلى Northwind. استخدم الرمز <strong>HELLO10</strong> للحصول على خصم 10% على طلبك الأول.</p>
        <p>نراك على المسارات!</p>

email-welcome-pickup-subject = مرحبًا بك! الاستلام من المتجر مجاني
email-welcome-pickup-preheader = اطلب عبر الإنترنت واستلم من أي متجر Northwind في فرنسا أو بلجيكا أو كندا.
email-welcome-pickup-body =
    <p>مرحبًا بك في Northwind!</p>
    <p>اطلب عبر الإنترنت واستلم معداتك من المتجر الذي تختاره <strong>مجانًا</strong>، عادةً خلال ساعتين.</p>
    <p>يسعد فريقنا مساعدتك في اختيار المقاس المناسب.</p>

email-welcome-vip-subject = { $first_name }، هدية الترحيب الخاصة بكبار العملاء وصلت
    .anonymous = هدية الترحيب الخاصة بكبار العملاء وصلت
email-welcome-vip-preheader = وصول مبكر إلى التخفيضات وتوصيل سريع مجاني وهدية منا.
email-welcome-vip-body =
    <p>مرحبًا { $first_name }،</p>
    <p>بصفتك من كبار عملاء Northwind، تحصل على <strong>وصول مبكر</strong> إلى جميع التخفيضات وتوصيل سريع مجاني وهدية ترحيبية مع طلبك القادم.</p>
    .anonymous =
        <p>مرحبًا،</p>
        <p>بصفتك من كبار عملاء Northwind، تحصل على <strong>وصول مبكر</strong> إلى جميع التخفيضات وتوصيل سريع مجاني وهدية ترحيبية مع طلبك القادم.</p>

## Cart reminder
email-cart-reminder-subject = تركت شيئًا في سلة التسوق
email-cart-reminder-preheader = حفظنا منتجاتك، لكن المقاسات الأكثر طلبًا تنفد بسرعة.
email-cart-reminder-body =
    <p>سلتك بانتظارك.</p>
    <p>سنحتفظ بمنتجاتك لبضعة أيام أخرى. المقاسات والألوان الأكثر طلبًا تنفد بسرعة، فلا تتأخر كثيرًا.</p>
email-cart-reminder-cta-label = العودة إلى سلتي

email-cart-reminder-member-subject =
    { $tier ->
        [gold] شحن مجاني لسلتك بفضل عضويتك الذهبية
        [silver] شحن مجاني لسلتك بفضل عضويتك الفضية
       *[other] شحن مجاني لسلتك بفضل عضويتك
    }
    .anonymous = شحن مجاني لسلتك بفضل عضويتك
email-cart-reminder-member-preheader = يحصل الأعضاء على توصيل سريع مجاني مع كل طلب.
email-cart-reminder-member-body =
    <p>سلتك بانتظارك، والشحن على حسابنا.</p>
    <p>{ $points ->
        [zero] لديك أيضًا <strong>{ $points } نقطة</strong> حاليًا، واجمع المزيد مع كل طلب.
        [one] لديك أيضًا <strong>نقطة واحدة</strong> لاستخدامها.
        [two] لديك أيضًا <strong>نقطتان</strong> لاستخدامهما.
        [few] لديك أيضًا <strong>{ $points } نقاط</strong> لاستخدامها.
        [many] لديك أيضًا <strong>{ $points } نقطة</strong> لاستخدامها.
       *[other] لديك أيضًا <strong>{ $points } نقطة</strong> لاستخدامها.
    }</p>
    .anonymous =
        <p>سلتك بانتظارك، والشحن على حسابنا.</p>
        <p>تذكّر أنه يمكنك استخدام نقاطك عند الدفع.</p>

email-cart-reminder-lapsing-subject = { $first_name }، لقد حفظنا سلتك
    .anonymous = لقد حفظنا سلتك من أجلك
email-cart-reminder-lapsing-preheader = إليك خصم 15% لمساعدتك على اتخاذ القرار، صالح لمدة 48 ساعة.
email-cart-reminder-lapsing-body =
    <p>مرحبًا { $first_name }،</p>
    <p>اشتقنا إليك! سلتك ما زالت هنا، والرمز <strong>COMEBACK15</strong> يمنحك خصم 15% خلال الـ48 ساعة القادمة.</p>
    .anonymous =
        <p>مرحبًا،</p>
        <p>اشتقنا إليك! سلتك ما زالت هنا، والرمز <strong>COMEBACK15</strong> يمنحك خصم 15% خلال الـ48 ساعة القادمة.</p>
