# Checkout banner (placement checkout.banner), web and mobile_app.

checkout-banner-default-title = Free standard shipping on every order
checkout-banner-default-body = Changed your mind? Returns are free for 60 days.

checkout-banner-points-title =
    { $points ->
        [one] You have { $points } point to spend
       *[other] You have { $points } points to spend
    }
    .anonymous = You have points to spend
checkout-banner-points-body = Redeem them at the payment step for money off this order.

checkout-banner-mobile-title = Check out in one tap
checkout-banner-mobile-body =
    { $device ->
        [tablet] Pay with your saved card or digital wallet, right from your tablet.
       *[other] Pay with Apple Pay or Google Pay, no card details needed.
    }

## Draft: next-day delivery
checkout-banner-express-title = Next-day delivery is here
checkout-banner-express-body = Order before 8 pm and get it tomorrow.
