# Push notifications (placements push.back_in_stock and push.points_expiring).
# Title 60 characters at most, body 170.

push-back-in-stock-title = Back in stock!
push-back-in-stock-body = An item on your wishlist is available again in your size. Grab it before it goes.

push-back-in-stock-store-title = Back in stock near you
push-back-in-stock-store-body = Your wishlist item is back at our { $city } store. Reserve it now and pick it up today.
    .anonymous = Your wishlist item is back at your local store. Reserve it now and pick it up today.

push-points-expiring-title = Your points expire soon
push-points-expiring-body = Use your Northwind points before the end of the month.

push-points-expiring-member-title = { $first_name }, don't lose your points
    .anonymous = Don't lose your points
push-points-expiring-member-body =
    { $points ->
        [one] { $points } point expires
       *[other] { $points } points expire
    } at the end of the month. { $tier ->
        [gold] Gold tip: they are worth double on footwear.
        [silver] Silver tip: use them on the new collection.
       *[other] Spend them in store or online.
    }
    .anonymous = Some of your points expire at the end of the month. Spend them in store or online.
