# Customer satisfaction survey (placement support.survey).

support-survey-default-title = How did we do?
support-survey-default-body =
    { $channel ->
        [email] It only takes two minutes. Click the button below to share your feedback.
        [mobile_app] Tap below and answer three quick questions about the app.
       *[other] Answer three quick questions and help us improve Northwind.
    }
support-survey-cta-label = Take the survey

support-survey-chat-title = Rate this chat
support-survey-chat-body = Did our team solve your problem today? Let us know in one click.

support-survey-buyer-title = { $first_name }, how was your order?
    .anonymous = How was your order?
support-survey-buyer-body =
    { $order_count ->
        [one] Thanks for your first order with us!
       *[other] Thanks for your { $order_count } orders with us!
    } Rate your latest delivery in under a minute.
    .anonymous = Thanks for shopping with us! Rate your latest delivery in under a minute.
