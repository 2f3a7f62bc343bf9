# Ankieta satysfakcji (placement support.survey).

support-survey-default-title = Jak nam poszło?
support-survey-default-body =
    { $channel ->
        [email] To zajmie tylko dwie minuty. Kliknij przycisk poniżej i podziel się opinią.
        [mobile_app] Dotknij poniżej i odpowiedz na trzy krótkie pytania o aplikację.
       *[other] Odpowiedz na trzy krótkie pytania i pomóż nam ulepszyć Northwind.
    }
support-survey-cta-label = Wypełnij ankietę

support-survey-chat-title = Oceń tę rozmowę
support-survey-chat-body = Czy nasz zespół rozwiązał dziś Twój problem? Daj nam znać jednym kliknięciem.

support-survey-buyer-title = { $first_name }, jak oceniasz swoje zamówienie?
    .anonymous = Jak oceniasz swoje zamówienie?
support-survey-buyer-body =
    { $order_count ->
        [one] Dziękujemy za pierwsze zamówienie!
        [few] Dziękujemy za { $order_count } zamówienia!
        [many] Dziękujemy za { $order_count } zamówień!
       *[other] Dziękujemy za { $order_count } zamówienia!
    } Oceń ostatnią dostawę w mniej niż minutę.
    .anonymous = Dziękujemy za zakupy! Oceń ostatnią dostawę w mniej niż minutę.
