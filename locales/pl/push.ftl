# Powiadomienia push (placementy push.back_in_stock i push.points_expiring).
# Tytuł najwyżej 60 znaków, treść najwyżej 170.

push-back-in-stock-title = Znowu dostępne!
push-back-in-stock-body = Produkt z Twojej listy życzeń jest znów dostępny w Twoim rozmiarze. Nie zwlekaj!

push-back-in-stock-store-title = Znowu dostępne w pobliżu
push-back-in-stock-store-body = Produkt z Twojej listy życzeń wrócił do naszego sklepu w mieście { $city }. Zarezerwuj go i odbierz jeszcze dziś.
    .anonymous = Produkt z Twojej listy życzeń wrócił do Twojego sklepu. Zarezerwuj go i odbierz jeszcze dziś.

push-points-expiring-title = Twoje punkty wkrótce wygasną
push-points-expiring-body = Wykorzystaj punkty Northwind przed końcem miesiąca.

push-points-expiring-member-title = { $first_name }, nie strać swoich punktów
    .anonymous = Nie strać swoich punktów
push-points-expiring-member-body =
    { $points ->
        [one] { $points } punkt wygasa
        [few] { $points } punkty wygasają
        [many] { $points } punktów wygasa
       *[other] { $points } punktu wygasa
    } z końcem miesiąca. { $tier ->
        [gold] Wskazówka Gold: na obuwie są warte podwójnie.
        [silver] Wskazówka Silver: wykorzystaj je na nową kolekcję.
       *[other] Wykorzystaj je w sklepie lub online.
    }
    .anonymous = Część Twoich punktów wygasa z końcem miesiąca. Wykorzystaj je w sklepie lub online.
