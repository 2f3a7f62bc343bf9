# Home hero banner (placement home.hero).
# Shown on web, mobile_app, email, sms and push: keep titles short (push)
# and bodies short enough for a two-segment SMS.

## A/B test, variant A (default)
home-hero-default-title = Built for the trail
home-hero-default-body = New-season jackets, boots and packs are here. Free returns on every order.

home-hero-shop-now = Shop now

## A/B test, variant B
home-hero-spring-title = Spring is calling
home-hero-spring-body = Light layers for longer days outside. Discover the spring collection.

## Gold members
home-hero-gold-title = Welcome back, { $first_name }!
    .anonymous = Welcome back!
home-hero-gold-body =
    { $points ->
        [one] You have { $points } point to spend.
       *[other] You have { $points } points to spend.
    } Express delivery is free for Gold members.
    .anonymous = Your points are ready to spend. Express delivery is free for Gold members.
home-hero-gold-cta-label = See my rewards

## Winter sale 2026 (scheduled)
home-hero-winter-title = Winter sale: up to 40% off
home-hero-winter-body = Insulated jackets, thermal layers and snow boots, now reduced until January 10.
