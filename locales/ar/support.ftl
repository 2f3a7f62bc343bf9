# Customer satisfaction survey (placement support.survey). Arabic.

support-survey-default-title = ما رأيك في خدمتنا؟
support-survey-default-body =
    { $channel ->
        [email] لن يستغرق الأمر سوى دقيقتين. انقر على الزر أدناه لمشاركة رأيك.
        [mobile_app] اضغط أدناه وأجب عن ثلاثة أسئلة سريعة حول التطبيق.
       *[other] أجب عن ثلاثة أسئلة سريعة وساعدنا على تحسين Northwind.
    }
support-survey-cta-label = ابدأ الاستبيان

support-survey-chat-title = قيّم هذه المحادثة
support-survey-chat-body = هل حلّ فريقنا مشكلتك اليوم؟ أخبرنا بنقرة واحدة.

support-survey-buyer-title = { $first_name }، كيف كان طلبك؟
    .anonymous = كيف كان طلبك؟
support-survey-buyer-body =
    { $order_count ->
        [zero] شكرًا لتسوقك معنا!
        [one] شكرًا على طلبك الأول معنا!
        [two] شكرًا على طلبيك معنا!
        [few] شكرًا على { $order_count } طلبات معنا!
        [many] شكرًا على { $order_count } طلبًا معنا!
       *[other] شكرًا على { $order_count } طلب معنا!
    } قيّم آخر عملية توصيل في أقل من دقيقة.
    .anonymous = شكرًا لتسوقك معنا! قيّم آخر عملية توصيل في أقل من دقيقة.
