# Mobile app onboarding (placement app.onboarding).

app-onboarding-title = Welcome to the Northwind app
app-onboarding-body =
    { $device ->
        [tablet] Browse the full catalog on the big screen and save favorites for later.
       *[other] Scan barcodes in store, save favorites and check out in seconds.
    }
app-onboarding-cta-label = Get started

app-onboarding-returning-title = Good to see you again
app-onboarding-returning-body =
    { $order_count ->
        [one] Your order and receipt are now in one place, under Account.
       *[other] All { $order_count } of your orders and receipts are now in one place, under Account.
    }
    .anonymous = All your orders and receipts are now in one place, under Account.

app-onboarding-new-title = Hi { $first_name }, welcome aboard!
    .anonymous = Welcome aboard!
app-onboarding-new-body = Turn on notifications to hear first about restocks and member offers.
app-onboarding-new-cta-label = Turn on notifications
