# Emails (placements email.welcome and email.cart_reminder).
# Subjects stay under 70 characters and preheaders under 110.
# The body fields are HTML: simple markup only, no variables inside attributes.

## Welcome email
email-welcome-subject = Welcome to Northwind, { $first_name }!
    .anonymous = Welcome to Northwind!
email-welcome-preheader = Your 10% welcome code is inside. Happy exploring.
email-welcome-body =
    <p>Hi { $first_name },</p>
    <p>Thanks for joining Northwind. Use the code <strong>HELLO10</strong> for 10% off your first order.</p>
    <p>See you on the trail!</p>
    .anonymous =
        <p>Hi there,</p>
        <p>Thanks for joining Northwind. Use the code <strong>HELLO10</strong> for 10% off your first order.</p>
        <p>See you on the trail!</p>

email-welcome-pickup-subject = Welcome! Pick up your orders in store for free
email-welcome-pickup-preheader = Order online and collect at any Northwind store in France, Belgium or Canada.
email-welcome-pickup-body =
    <p>Welcome to Northwind!</p>
    <p>Order online and pick up your gear at the store of your choice, <strong>free of charge</strong>, usually within two hours.</p>
    <p>Our staff will be happy to help you with fitting and sizing.</p>

email-welcome-vip-subject = { $first_name }, your VIP welcome gift is here
    .anonymous = Your VIP welcome gift is here
email-welcome-vip-preheader = Early access to sales, free express shipping and a gift on us.
email-welcome-vip-body =
    <p>Dear { $first_name },</p>
    <p>As a Northwind VIP you get <strong>early access</strong> to every sale, free express shipping and a welcome gift with your next order.</p>
    .anonymous =
        <p>Hello,</p>
        <p>As a Northwind VIP you get <strong>early access</strong> to every sale, free express shipping and a welcome gift with your next order.</p>

## Cart reminder
email-cart-reminder-subject = You left something in your cart
email-cart-reminder-preheader = We saved your items, but popular sizes sell out fast.
email-cart-reminder-body =
    <p>Your cart is waiting for you.</p>
    <p>We have saved your items for a few more days. Popular sizes and colors sell out fast, so do not wait too long.</p>
email-cart-reminder-cta-label = Back to my cart

email-cart-reminder-member-subject =
    { $tier ->
        [gold] Your cart ships free with Gold status
        [silver] Your cart ships free with Silver status
       *[other] Your cart ships free with your member status
    }
    .anonymous = Your cart ships free with your member status
email-cart-reminder-member-preheader = Members get free express shipping on every order.
email-cart-reminder-member-body =
    <p>Your cart is waiting, and shipping is on us.</p>
    <p>{ $points ->
        [one] You also have <strong>{ $points } point</strong> to spend.
       *[other] You also have <strong>{ $points } points</strong> to spend.
    }</p>
    .anonymous =
        <p>Your cart is waiting, and shipping is on us.</p>
        <p>Remember that you can spend your points at checkout.</p>

email-cart-reminder-lapsing-subject = { $first_name }, we saved your cart
    .anonymous = We saved your cart for you
email-cart-reminder-lapsing-preheader = Here is 15% off to help you decide, valid for 48 hours.
email-cart-reminder-lapsing-body =
    <p>Hi { $first_name },</p>
    <p>It has been a while! Your cart is still here, and the code <strong>COMEBACK15</strong> takes 15% off it for the next 48 hours.</p>
    .anonymous =
        <p>Hello,</p>
        <p>It has been a while! Your cart is still here, and the code <strong>COMEBACK15</strong> takes 15% off it for the next 48 hours.</p>
